//! OpenTelemetry trace export (`[telemetry] otlp_endpoint`, cargo feature `otel`): the
//! `tracing` spans of the server (one per request, with the request id, method, route, path
//! and status: safe fields only, never a query string, header value or body) become OTLP
//! spans, batched and POSTed as protobuf to the collector. A caller's W3C `traceparent`
//! makes the request span a child of the caller's trace. Without the feature this module
//! only has the no-op [`link_parent`].

/// Makes `span` a child of the trace in the request's `traceparent` header, if any.
#[cfg(feature = "otel")]
pub fn link_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(cx);
}

/// Without the `otel` feature there is no trace context to join.
#[cfg(not(feature = "otel"))]
pub fn link_parent(_span: &tracing::Span, _headers: &axum::http::HeaderMap) {}

#[cfg(feature = "otel")]
struct Headers<'a>(&'a axum::http::HeaderMap);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

/// The exporter's provider: flushes and stops the export when dropped (at shutdown).
#[cfg(feature = "otel")]
pub struct Export(opentelemetry_sdk::trace::SdkTracerProvider);

#[cfg(feature = "otel")]
impl Drop for Export {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("gatehouse: flushing OpenTelemetry spans failed: {e}");
        }
    }
}

/// Builds the export pipeline and the `tracing` layer that feeds it. Call outside the async
/// runtime (the HTTP client of the exporter is a blocking one on its own thread).
#[cfg(feature = "otel")]
pub fn layer<S>(cfg: &crate::config::OtlpConfig) -> Result<(impl tracing_subscriber::Layer<S>, Export), String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(cfg.traces_url.clone())
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("telemetry.otlp_endpoint: cannot set up the OTLP exporter: {e}"))?;
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sample_ratio)));
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(cfg.service_name.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let tracer = provider.tracer("gatehouse");
    Ok((tracing_opentelemetry::layer().with_tracer(tracer), Export(provider)))
}
