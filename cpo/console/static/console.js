// Live updates: the server says what changed (Server-Sent Events from /console/events); each
// part of the page marked data-live has htmx fetch it again when it is concerned.
// data-live="stations": any station; "station:ID": that one; "sessions": charges and Sessions.
(function () {
  "use strict";
  const events = document.body.dataset.events;
  if (!events || !window.EventSource || !document.querySelector("[data-live]")) {
    return;
  }
  const SPACING_MS = 300; // between two fetches of one part

  const concerned = function (topic, change) {
    if (topic === "stations") {
      return change.stations.length > 0;
    }
    if (topic === "sessions") {
      return change.sessions;
    }
    if (topic.startsWith("station:")) {
      return change.stations.includes(topic.slice("station:".length));
    }
    return false;
  };

  // One fetch of a part at a time: a change told while it is under way (or just after) is
  // fetched once more when it is done, never dropped.
  const state = new WeakMap();
  const fetchPart = function (part) {
    const s = state.get(part) || { busy: false, again: false };
    state.set(part, s);
    if (s.busy) {
      s.again = true;
      return;
    }
    s.busy = true;
    htmx.trigger(part, "refresh");
  };
  document.body.addEventListener("htmx:afterRequest", function (event) {
    const part = event.detail.elt;
    const s = state.get(part);
    if (!s) {
      return;
    }
    window.setTimeout(function () {
      s.busy = false;
      if (s.again) {
        s.again = false;
        fetchPart(part);
      }
    }, SPACING_MS);
  });
  const refresh = function (change) {
    document.querySelectorAll("[data-live]").forEach(function (part) {
      if (change === null || concerned(part.dataset.live, change)) {
        fetchPart(part);
      }
    });
  };

  const source = new EventSource(events);
  source.addEventListener("open", function () {
    // What changed between the page's rendering and the stream's start (or while it
    // reconnected) was told to no one: every live part is fetched once.
    refresh(null);
    document.body.dataset.stream = "open";
  });
  source.addEventListener("change", function (message) {
    refresh(JSON.parse(message.data));
  });
  source.addEventListener("error", function () {
    document.body.dataset.stream = "closed";
    // CLOSED: the server refused the stream (the login ended); the page then shows the login.
    if (source.readyState === EventSource.CLOSED) {
      window.location.reload();
    }
  });

  // After a command, the frames it caused are shown once the server has logged them.
  document.body.addEventListener("htmx:afterRequest", function (event) {
    const config = event.detail.requestConfig;
    if (config && config.verb === "post") {
      window.setTimeout(function () {
        refresh(null);
      }, 500);
    }
  });
})();
