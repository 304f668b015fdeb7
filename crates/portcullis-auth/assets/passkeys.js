// Passkeys on Portcullis pages (WebAuthn through the browser's own JSON helpers). The element
// #passkeys says what this page does with them (data-mode):
//   register       the account page: create a passkey named by #passkey-name
//   sign-in        the sign-in page: offer passkeys in the username autofill, and a button
//   second-factor  the code page: use a passkey instead of a code
// Every request is a same-origin JSON POST; the server seals each ceremony and accepts it once.
"use strict";

(() => {
  const root = document.getElementById("passkeys");
  if (!root || !window.PublicKeyCredential) {
    return;
  }
  const mode = root.dataset.mode;
  const returnTo = root.dataset.returnTo || "";
  const status = document.getElementById("passkey-status");
  const say = (text) => {
    if (status) status.textContent = text;
  };
  root.hidden = false;

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(answer.error_description || answer.error || `status ${response.status}`);
    }
    return answer;
  }

  // A copy of `value` without null members (WebIDL takes an absent member, not null) and
  // without the `uvm` extension, which browsers do not implement.
  function cleaned(value) {
    if (Array.isArray(value)) return value.map(cleaned);
    if (value === null || typeof value !== "object") return value;
    const copy = {};
    for (const [name, member] of Object.entries(value)) {
      if (member !== null && name !== "uvm") copy[name] = cleaned(member);
    }
    return copy;
  }

  const requestOptions = (options) =>
    PublicKeyCredential.parseRequestOptionsFromJSON(cleaned(options.publicKey));

  async function register() {
    const name = document.getElementById("passkey-name").value;
    const password = document.getElementById("passkey-password").value;
    const ceremony = await post("/account/passkeys/options", { current_password: password });
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(cleaned(ceremony.options.publicKey));
    const credential = await navigator.credentials.create({ publicKey });
    await post("/account/passkeys", { state: ceremony.state, name, credential: credential.toJSON() });
    window.location.assign("/account");
  }

  async function authenticate(optionsUrl, finishUrl, mediation, signal) {
    const ceremony = await post(optionsUrl, {});
    const request = { publicKey: requestOptions(ceremony.options) };
    if (mediation) request.mediation = mediation;
    if (signal) request.signal = signal;
    const credential = await navigator.credentials.get(request);
    const done = await post(finishUrl, {
      state: ceremony.state,
      credential: credential.toJSON(),
      return_to: returnTo,
    });
    window.location.assign(done.location);
  }

  const failed = (error) => {
    if (error && error.name === "AbortError") return;
    say(`The passkey did not work: ${error.message || error}`);
  };

  if (mode === "register") {
    document.getElementById("passkey-add").addEventListener("click", () => register().catch(failed));
  } else if (mode === "sign-in") {
    let autofill = null;
    const offerAutofill = async () => {
      if (!(await PublicKeyCredential.isConditionalMediationAvailable?.())) return;
      autofill = new AbortController();
      authenticate("/signin/passkey/options", "/signin/passkey", "conditional", autofill.signal).catch(failed);
    };
    document.getElementById("passkey-sign-in").addEventListener("click", () => {
      if (autofill) autofill.abort();
      authenticate("/signin/passkey/options", "/signin/passkey", null, null).catch(failed);
    });
    offerAutofill();
  } else if (mode === "second-factor") {
    document.getElementById("passkey-verify").addEventListener("click", () =>
      authenticate("/signin/code/passkey/options", "/signin/code/passkey", null, null).catch(failed),
    );
  }
})();
