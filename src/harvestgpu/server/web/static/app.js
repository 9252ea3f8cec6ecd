// Dashboard behaviour that htmx does not cover: confirmations, copy buttons, following logs.
// No inline scripts anywhere: the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";

  // Destructive forms carry data-confirm="question"; nothing is sent unless the user agrees.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  function copyText(source) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(source.value);
    }
    // Plain http on a LAN address is not a secure context: fall back to the selection.
    source.select();
    var copied = document.execCommand("copy");
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = button.closest(".copy-box").querySelector("[data-copy-source]");
    copyText(source).then(function () {
      button.textContent = "Copied";
      button.classList.add("copied");
    }, function () {
      source.select();
      button.textContent = "Press Ctrl+C";
    });
  });

  // A page answering a form POST names the URL it shows; the address bar follows (the hash, the
  // section the form was in, is kept), so a reload is a GET of that page and never a re-POST.
  var canonical = document.querySelector('meta[name="hg-canonical-url"]');
  if (canonical && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", canonical.getAttribute("content") + window.location.hash);
  }

  // Keep the log view pinned to the newest line unless the reader scrolled up.
  function logBox() { return document.getElementById("log-lines"); }
  document.addEventListener("scroll", function (event) {
    var box = logBox();
    if (box && event.target === box) {
      box.dataset.follow = String(box.scrollHeight - box.scrollTop - box.clientHeight < 40);
    }
  }, true);
  document.addEventListener("htmx:afterSettle", function () {
    var box = logBox();
    if (box && box.dataset.follow !== "false") { box.scrollTop = box.scrollHeight; }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var box = logBox();
    if (box) { box.scrollTop = box.scrollHeight; }
  });
})();
