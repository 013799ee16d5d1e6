// twinctl's web pages: the live parts only (lamps, calls, timelines), over server-sent
// events. The pages work without it. Text goes in with textContent, never as HTML.
"use strict";
(function () {
  var url = document.body.getAttribute("data-live");
  if (!url || !window.EventSource) {
    return;
  }
  var WORDS = { INUSE: "on", BUSY: "on", ONHOLD: "on", RINGING: "flashing", RINGINUSE: "flashing",
    NOT_INUSE: "off", IDLE: "off" };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function setLamp(lamp, state) {
    if (!lamp) { return; }
    lamp.setAttribute("data-state", state);
    lamp.textContent = WORDS[state] || "unknown";
  }

  function byData(root, attr, value) {
    var all = root.querySelectorAll("[" + attr + "]");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute(attr) === value) { return all[i]; }
    }
    return null;
  }

  // The key lamp as the settings make it, until the PBX tells the lamp itself.
  function derive(lamp) {
    var on = lamp.getAttribute("data-enabled") === "yes" && lamp.getAttribute("data-mobile") !== "" &&
      lamp.getAttribute("data-dnd") !== "yes";
    setLamp(lamp, on ? "INUSE" : "NOT_INUSE");
  }

  var calls = document.getElementById("calls");
  var timelines = document.getElementById("timelines");
  var handover = document.getElementById("handover");

  function callBox(e) {
    var key = e.node + "/" + e.call;
    var root = calls || timelines;
    var box = byData(root, "data-call", key);
    if (box) { return box; }
    box = el(calls ? "div" : "section", calls ? "call" : "card call");
    box.setAttribute("data-call", key);
    var head = el(calls ? "p" : "h2");
    if (calls) {
      head.appendChild(document.createTextNode("Call from "));
      head.appendChild(el("code", "", e.channel || ""));
      head.appendChild(document.createTextNode(": "));
      head.appendChild(el("strong", "state", "ringing"));
    } else {
      head.appendChild(document.createTextNode(e.node + " · user " + e.user + " · " + (e.channel || "") + " · "));
      head.appendChild(el("span", "callstate", "in progress"));
    }
    box.appendChild(head);
    box.appendChild(el("ul", "legs"));
    root.insertBefore(box, root.firstChild);
    var none = document.getElementById(calls ? "no-call" : "no-calls");
    if (none) { none.hidden = true; }
    return box;
  }

  function legState(e, leg, state) {
    var box = callBox(e);
    var list = box.querySelector("ul.legs");
    var li = byData(list, "data-leg", leg);
    if (!li) {
      li = el("li");
      li.setAttribute("data-leg", leg);
      if (calls) {
        li.appendChild(document.createTextNode(leg + ": "));
        li.appendChild(el("span", "legstate", ""));
      } else {
        li.appendChild(el("strong", "", leg));
        li.appendChild(document.createTextNode(": "));
        li.appendChild(el("span", "steps"));
      }
      list.appendChild(li);
    }
    if (calls) {
      li.querySelector(".legstate").textContent = state;
    } else {
      var step = el("span", "step", state);
      step.title = new Date(e.at_ms).toISOString().substring(11, 19) + " UTC";
      li.querySelector(".steps").appendChild(step);
    }
    return box;
  }

  function answered(box, yes) {
    var s = box.querySelector(".state");
    if (s) { s.textContent = yes ? "answered" : "ringing"; }
    if (handover && calls) {
      handover.hidden = !calls.querySelector(".call .state") ||
        !Array.prototype.some.call(calls.querySelectorAll(".call .state"), function (x) {
          return x.textContent === "answered";
        });
    }
  }

  var source = new EventSource(url);
  function on(type, f) {
    source.addEventListener(type, function (m) {
      var e;
      try { e = JSON.parse(m.data); } catch (x) { return; }
      f(e);
    });
  }

  var lampHeard = false;
  on("lamps", function (e) {
    if (e.lamp === "twinning") {
      lampHeard = true;
      var lamp = document.getElementById("lamp-twinning");
      if (lamp) { lamp.setAttribute("data-derived", "no"); setLamp(lamp, e.state); }
    } else if (e.lamp === "twinningcall") {
      setLamp(document.getElementById("lamp-busy"), e.state);
    }
  });
  on("settings", function (e) {
    var lamp = document.getElementById("lamp-twinning");
    if (!lamp || ["enabled", "dnd", "mobile"].indexOf(e.field) < 0) { return; }
    lamp.setAttribute("data-" + e.field, e.value);
    // Until the PBX tells the lamp on this page, it follows the settings (the module lights
    // it from the same three: enabled, a number, no DND).
    if (!lampHeard) { derive(lamp); }
  });
  if (!calls && !timelines) { return; }
  on("start", function (e) { callBox(e); });
  on("leg", function (e) { legState(e, e.leg, e.state); });
  on("bridged", function (e) { answered(legState(e, e.leg, "bridged"), true); });
  on("handover", function (e) {
    legState(e, e.to, "handover " + e.result);
    var r = document.getElementById("handover-result");
    if (r) { r.textContent = "Handover from " + e.from + " to " + e.to + ": " + e.result + (e.detail ? " (" + e.detail + ")" : ""); }
  });
  on("end", function (e) {
    var box = callBox(e);
    if (calls) {
      box.parentNode.removeChild(box);
      answered(box, false);
      var none = document.getElementById("no-call");
      if (none && !calls.querySelector(".call")) { none.hidden = false; }
    } else {
      box.querySelector(".callstate").textContent = "ended " + e.status + (e.answered_by ? " by " + e.answered_by : "");
    }
  });
})();
