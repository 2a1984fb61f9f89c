// The recording of a session run, played by the vendored asciinema-player (static/asciinema-player.min.js)
// from the run's .cast route; a file rather than an inline script, as the CSP allows only 'self' scripts.
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("session-player");
  if (!el || typeof AsciinemaPlayer === "undefined") { return; }
  AsciinemaPlayer.create(el.getAttribute("data-cast"), el, {fit: "width", idleTimeLimit: 2, preload: true});
});
