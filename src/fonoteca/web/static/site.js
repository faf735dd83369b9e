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

  // Completions while typing (the search box works as a plain form without this): /api/suggest answers with
  // artists, albums and tracks for the words so far; arrows move, Enter opens, Escape closes.
  function suggest(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var endpoint = input.getAttribute("data-suggest");
    if (!list || !endpoint || !window.fetch) { return; }
    var timer = null;
    var asked = 0;
    var shown = [];
    var selected = -1;

    function close() {
      list.hidden = true;
      list.textContent = "";
      shown = [];
      selected = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function select(index) {
      selected = index;
      for (var i = 0; i < shown.length; i++) {
        shown[i].setAttribute("aria-selected", i === index ? "true" : "false");
      }
      if (index >= 0) { input.setAttribute("aria-activedescendant", shown[index].id); }
    }
    function line(kind, name, detail, url) {
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = "suggestion-" + shown.length;
      item.setAttribute("data-url", url || "");
      var tag = document.createElement("span");
      tag.className = "kind";
      tag.textContent = kind;
      var text = document.createElement("span");
      text.className = "name";
      text.textContent = name;
      item.appendChild(tag);
      item.appendChild(text);
      if (detail) {
        var more = document.createElement("span");
        more.className = "detail";
        more.textContent = detail;
        item.appendChild(more);
      }
      item.addEventListener("mousedown", function (event) {
        event.preventDefault();
        if (url) { window.location.href = url; }
      });
      list.appendChild(item);
      shown.push(item);
    }
    function show(data) {
      close();
      var items = data.suggestions || [];
      for (var i = 0; i < items.length; i++) {
        line(items[i].kind, items[i].name || "", items[i].detail || "", items[i].url);
      }
      if (!items.length && data.did_you_mean) {
        line("did you mean", data.did_you_mean, "", "/search?q=" + encodeURIComponent(data.did_you_mean));
      }
      if (shown.length) {
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
      }
    }
    function ask() {
      var text = input.value.trim();
      var number = ++asked;
      if (!text) { close(); return; }
      fetch(endpoint + "?q=" + encodeURIComponent(text) + "&limit=8", {headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data && number === asked) { show(data); } })
        .catch(function () { if (number === asked) { close(); } });
    }
    input.addEventListener("input", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(ask, 120);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden || !shown.length) { return; }
      if (event.key === "ArrowDown") {
        event.preventDefault();
        select((selected + 1) % shown.length);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        select(selected <= 0 ? shown.length - 1 : selected - 1);
      } else if (event.key === "Enter" && selected >= 0) {
        var url = shown[selected].getAttribute("data-url");
        if (url) { event.preventDefault(); window.location.href = url; }
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function ready() {
    var boxes = document.querySelectorAll("input[data-suggest]");
    for (var j = 0; j < boxes.length; j++) { suggest(boxes[j]); }
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
