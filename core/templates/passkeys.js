// Gatehouse passkeys: the page side of the WebAuthn ceremonies. Buttons carry what they need
// in data- attributes (the begin and finish URLs, the form's CSRF token); the server keeps the
// ceremony state. Binary fields travel as base64url, as the server's JSON has them.
"use strict";
(function () {
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const dec = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  };
  const post = async (url, body) => {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    });
    const json = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(json.error_description || "the request failed");
    return json;
  };
  const say = (button, text) => {
    const out = document.getElementById(button.dataset.status || "passkey-status");
    if (out) { out.textContent = text; out.hidden = !text; }
  };

  async function signIn(button) {
    const csrf = button.dataset.csrf;
    const options = await post(button.dataset.begin, { csrf });
    const pk = options.publicKey;
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const cred = await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    const credential = {
      id: cred.id, rawId: enc(cred.rawId), type: cred.type, extensions: {},
      response: {
        authenticatorData: enc(r.authenticatorData), clientDataJSON: enc(r.clientDataJSON),
        signature: enc(r.signature), userHandle: r.userHandle ? enc(r.userHandle) : null,
      },
    };
    const done = await post(button.dataset.finish, { csrf, credential });
    window.location.assign(done.redirect);
  }

  async function register(button) {
    const csrf = button.dataset.csrf;
    const name = document.getElementById("passkey-name");
    const password = document.getElementById("passkey-password");
    const code = document.getElementById("passkey-code");
    const options = await post(button.dataset.begin, {
      csrf, name: name ? name.value : "", current_password: password ? password.value : "",
      current_code: code ? code.value : "",
    });
    const pk = options.publicKey;
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    const r = cred.response;
    const credential = {
      id: cred.id, rawId: enc(cred.rawId), type: cred.type, extensions: {},
      response: { attestationObject: enc(r.attestationObject), clientDataJSON: enc(r.clientDataJSON) },
    };
    const done = await post(button.dataset.finish, { csrf, credential });
    const codes = document.getElementById("passkey-codes");
    if (done.recovery_codes && done.recovery_codes.length && codes) {
      const list = document.getElementById("recovery-codes");
      done.recovery_codes.forEach((c) => {
        const li = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = c;
        li.appendChild(code);
        list.appendChild(li);
      });
      codes.hidden = false;
      say(button, "Passkey added. Save your recovery codes below.");
    } else {
      window.location.assign(done.redirect);
    }
  }

  const wire = (id, run) => {
    const button = document.getElementById(id);
    if (!button) return;
    if (!window.PublicKeyCredential) { button.hidden = true; return; }
    button.hidden = false;
    button.addEventListener("click", () => {
      say(button, "");
      button.disabled = true;
      run(button)
        .catch((e) => say(button, e && e.name === "NotAllowedError"
          ? "No passkey was used: it was cancelled, timed out, or could not verify you."
          : (e && e.message) || String(e)))
        .finally(() => { button.disabled = false; });
    });
  };
  wire("passkey-signin", signIn);
  wire("passkey-register", register);
})();
