// The status page updates itself: poll status.json, show the phase, reload once the grading is done.
(function () {
  var el = document.getElementById("status");
  if (!el || el.dataset.done === "true") return;
  function poll() {
    fetch(el.dataset.url, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        el.textContent = s.phase;
        if (s.done) { window.location.reload(); } else { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
