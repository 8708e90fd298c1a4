// The availability week (templates/scheduling/availability_week.html): each occurrence is placed
// in its day column by its local time. The page gives the places as data-* attributes (percentages
// of the column; the Content Security Policy refuses style="" attributes) and this file sets them
// as the element's style. Until it has (or without JavaScript), the week is a list per day.
(function () {
  "use strict";
  var week = document.getElementById("week");
  if (!week) { return; }

  function percent(value) {
    var number = parseFloat(value);
    return isFinite(number) ? Math.min(Math.max(number, 0), 100) + "%" : null;
  }

  var hours = parseInt(week.getAttribute("data-hours"), 10);
  if (!(hours > 0 && hours <= 24)) { return; }
  week.style.setProperty("--hours", String(hours));
  Array.prototype.forEach.call(week.querySelectorAll(".slot[data-top]"), function (slot) {
    ["top", "height", "left", "width"].forEach(function (side) {
      var value = percent(slot.getAttribute("data-" + side));
      if (value !== null) { slot.style[side] = value; }
    });
  });
  week.classList.add("placed");
})();
