// The sign-up form's proof of work (ALTCHA's challenge format): find the number n for which
// SHA-256(salt + n) is the challenge, and send it with the form. It tracks nothing and stores
// nothing; it runs once the page loads, so the answer is usually ready before the form is.
(() => {
  "use strict";
  const form = document.querySelector("form[data-challenge]");
  if (!form) return;
  const field = form.querySelector("input[name=altcha]");
  const status = form.querySelector(".proof-status");
  const button = form.querySelector("button[type=submit]");
  if (!window.crypto || !window.crypto.subtle) {
    status.textContent = "This browser cannot run the sign-up's spam check here (it needs HTTPS).";
    return;
  }
  const BATCH = 500;
  const FRESH_MS = 15 * 60 * 1000; // the server takes an answer for 20 minutes
  const encoder = new TextEncoder();
  const hex = (buffer) =>
    Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  const digest = (text) => crypto.subtle.digest("SHA-256", encoder.encode(text)).then(hex);
  let solvedAt = 0;

  async function solve() {
    const response = await fetch(form.dataset.challenge, { cache: "no-store" });
    if (!response.ok) throw new Error("no challenge");
    const c = await response.json();
    for (let start = 0; start <= c.maxNumber; start += BATCH) {
      const tried = [];
      for (let n = start; n < start + BATCH && n <= c.maxNumber; n++) {
        tried.push(digest(c.salt + n));
      }
      const found = (await Promise.all(tried)).indexOf(c.challenge);
      if (found >= 0) {
        const answer = { algorithm: c.algorithm, challenge: c.challenge, number: start + found,
                         salt: c.salt, signature: c.signature };
        field.value = btoa(JSON.stringify(answer));
        solvedAt = Date.now();
        form.dataset.solved = "true";
        return;
      }
    }
    throw new Error("no solution");
  }

  let pending = solve().catch(() => undefined);
  form.addEventListener("submit", async (event) => {
    if (field.value && Date.now() - solvedAt < FRESH_MS) return;
    event.preventDefault();
    button.disabled = true;
    status.textContent = "One moment: checking this is not a robot…";
    if (field.value) pending = solve(); // the old answer is too old to be taken
    try {
      await pending;
      if (!field.value) await solve(); // the first try failed (offline a moment?)
      status.textContent = "";
      form.submit();
    } catch (error) {
      status.textContent = "The spam check could not finish; reload the page and try again.";
    } finally {
      button.disabled = false;
    }
  });
})();
