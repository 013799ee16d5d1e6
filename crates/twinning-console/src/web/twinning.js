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
    if (calls) { box.appendChild(el("ul", "handovers")); }
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
    // The value in force and where it comes from: a change is a runtime value.
    var now = document.getElementById("f-" + e.field + "-value");
    if (now && e.field !== "pin") {
      now.textContent = "";
      now.appendChild(e.value === "" ? el("em", "", "not set") : el("code", "", e.value));
    }
    var origin = document.getElementById("f-" + e.field + "-origin");
    if (origin) {
      origin.setAttribute("data-origin", "runtime");
      origin.textContent = "changed at runtime";
    }
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
  // The leg that has the call: the page hides the button that would move it there.
  function onLeg(leg) { if (handover) { handover.setAttribute("data-leg", leg); } }
  on("bridged", function (e) { answered(legState(e, e.leg, "bridged"), true); onLeg(e.leg); });
  // Each handover of a call is an item of its list, its parts in data- attributes (as the
  // server renders them), for the recent calls' row when the call ends.
  on("handover", function (e) {
    var box = legState(e, e.to, "handover " + e.result);
    var words = "Handover from " + e.from + " to " + e.to + ": " + e.result + (e.detail ? " (" + e.detail + ")" : "");
    var list = box.querySelector("ul.handovers");
    if (list) {
      // A result takes the place of the `started` before it.
      var last = list.lastElementChild;
      if (last && last.getAttribute("data-result") === "started" && last.getAttribute("data-from") === e.from &&
          last.getAttribute("data-to") === e.to && e.result !== "started") {
        list.removeChild(last);
      }
      var seen = Array.prototype.some.call(list.children, function (x) {
        return x.getAttribute("data-at") === String(e.at_ms) && x.getAttribute("data-result") === e.result &&
          x.getAttribute("data-to") === e.to;
      });
      if (seen) { return; }
      var li = el("li", "", words);
      li.setAttribute("data-from", e.from);
      li.setAttribute("data-to", e.to);
      li.setAttribute("data-trigger", e.trigger);
      li.setAttribute("data-result", e.result);
      li.setAttribute("data-at", String(e.at_ms));
      list.appendChild(li);
    }
    var r = document.getElementById("handover-result");
    if (r) { r.textContent = words; }
    if (e.result === "completed") { onLeg(e.to); }
  });

  function utc(ms) { return new Date(ms).toISOString().substring(11, 19) + " UTC"; }

  // An ended call goes to the top of the recent calls, as the server renders them.
  function recentRow(e, box) {
    var table = document.getElementById("recent");
    if (!table) { return; }
    var tr = el("tr");
    tr.appendChild(el("td", "", utc(e.at_ms - (e.duration_ms || 0))));
    var caller = el("td");
    caller.appendChild(el("code", "", e.channel || ""));
    tr.appendChild(caller);
    tr.appendChild(el("td", "status", e.status));
    tr.appendChild(el("td", "answered", e.answered_by || "nobody"));
    tr.appendChild(el("td", "", Math.round((e.duration_ms || 0) / 1000) + " s"));
    var cell = el("td", "handovers");
    var done = box.querySelectorAll("ul.handovers li");
    if (!done.length) { cell.textContent = "none"; }
    Array.prototype.forEach.call(done, function (h) {
      var a = function (n) { return h.getAttribute("data-" + n) || ""; };
      var step = el("span", "step", a("from") + " to " + a("to") + " by " + a("trigger") + ": " + a("result"));
      step.title = utc(Number(a("at")));
      cell.appendChild(step);
    });
    tr.appendChild(cell);
    var body = table.tBodies[0];
    body.insertBefore(tr, body.firstChild);
    var none = document.getElementById("no-recent");
    if (none) { none.hidden = true; }
  }

  on("end", function (e) {
    var box = callBox(e);
    if (calls) {
      recentRow(e, box);
      box.parentNode.removeChild(box);
      answered(box, false);
      var none = document.getElementById("no-call");
      if (none && !calls.querySelector(".call")) { none.hidden = false; }
    } else {
      box.querySelector(".callstate").textContent = "ended " + e.status + (e.answered_by ? " by " + e.answered_by : "");
    }
  });
})();
