// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function clock(seconds) {
    if (!isFinite(seconds) || seconds < 0) { return "0:00"; }
    var s = Math.floor(seconds);
    var m = Math.floor(s / 60);
    var r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  // The audio player: a play/pause button, a progress bar and a status line that reports progress.
  function player(figure) {
    var audio = figure.querySelector("audio");
    var status = figure.querySelector(".status");
    if (!audio || !status) { return; }
    var controls = document.createElement("div");
    controls.className = "player-controls";
    var button = document.createElement("button");
    button.type = "button";
    button.id = "play";
    button.textContent = "Play";
    var bar = document.createElement("progress");
    bar.id = "player-progress";
    bar.max = 1;
    bar.value = 0;
    controls.appendChild(button);
    controls.appendChild(bar);
    figure.insertBefore(controls, figure.firstChild);
    // one player: these controls replace the browser's own (which stay when this script does not run)
    audio.controls = false;
    bar.title = "click to jump";
    bar.addEventListener("click", function (event) {
      var box = bar.getBoundingClientRect();
      if (isFinite(audio.duration) && box.width > 0) {
        audio.currentTime = audio.duration * Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      }
    });

    function report(state) {
      var total = isFinite(audio.duration) ? audio.duration : 0;
      status.textContent = state + " " + clock(audio.currentTime) + " / " + clock(total);
      bar.value = total > 0 ? audio.currentTime / total : 0;
      figure.setAttribute("data-position", audio.currentTime.toFixed(3));
      figure.setAttribute("data-state", state);
    }
    button.addEventListener("click", function () {
      if (audio.paused) {
        var started = audio.play();
        if (started && started.catch) {
          started.catch(function (err) { status.textContent = "cannot play: " + err.name; });
        }
      } else {
        audio.pause();
      }
    });
    audio.addEventListener("play", function () { button.textContent = "Pause"; report("playing"); });
    audio.addEventListener("pause", function () { button.textContent = "Play"; report("paused"); });
    audio.addEventListener("timeupdate", function () { report(audio.paused ? "paused" : "playing"); });
    audio.addEventListener("ended", function () { button.textContent = "Play"; report("finished"); });
    audio.addEventListener("error", function () { status.textContent = "the audio could not be loaded"; });
  }

  function ready() {
    var players = document.querySelectorAll("[data-player]");
    for (var i = 0; i < players.length; i++) { player(players[i]); }
    // "/" jumps to the search box, as on many sites.
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
      if (event.key === "/" && !typing) {
        var box = document.querySelector("main input[type=search]") || document.querySelector("input[type=search]");
        if (box) { event.preventDefault(); box.focus(); box.select(); }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
