// Behaviour any page may ask for with a data-* attribute: the Content Security Policy runs no
// inline code (no onsubmit="…", no onclick="…"), so the pages say what they want and this file
// does it. Without JavaScript the forms still send (without the question) and fields still work.
//
//   <form data-confirm="Cancel this posting?">  asks first; nothing is sent unless the answer is OK.
//   <input data-select-on-click>                 a click selects the whole text (an address to copy).
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    var field = event.target;
    if (field instanceof HTMLInputElement && field.hasAttribute("data-select-on-click")) {
      field.select();
    }
  });
})();
