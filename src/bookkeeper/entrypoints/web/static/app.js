// bookkeeper web page: keyboard shortcuts only (every page works without this script).
// On a proposal: "a" focuses Approve, "r" the rejection reason. In the queue: "j"/"k" move
// between proposals, Enter opens one. "?" nowhere: the shortcuts are also accesskeys.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
      target.tagName === "SELECT" || target.isContentEditable);
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "a") {
      var approve = document.querySelector("#approve-form button[type=submit]");
      if (approve) { approve.focus(); event.preventDefault(); }
    } else if (event.key === "r") {
      var reason = document.querySelector("#reject-form input[name=reason]");
      if (reason) { reason.focus(); event.preventDefault(); }
    } else if (event.key === "j" || event.key === "k") {
      var links = Array.prototype.slice.call(document.querySelectorAll("a.row-link"));
      if (!links.length) return;
      var index = links.indexOf(document.activeElement);
      index = event.key === "j" ? Math.min(index + 1, links.length - 1) : Math.max(index - 1, 0);
      links[index].focus();
      event.preventDefault();
    }
  });
})();
