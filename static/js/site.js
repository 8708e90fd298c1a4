// Behaviour any page may ask for with a data-* attribute: the Content Security Policy runs no
// inline code (no onsubmit="…", no onclick="…"), so the pages say what they want and this file
// does it. Without JavaScript the forms still send (without the question) and fields still work.
//
//   <form data-confirm="Cancel this posting?">  asks first; nothing is sent unless the answer is OK.
//   <input data-select-on-click>                 a click selects the whole text (an address to copy).
//
// And the header's menus (base.html), disclosure buttons as WAI-ARIA's navigation pattern has
// them: <button data-menu-button aria-expanded aria-controls="list"> shows or hides its list;
// one menu is open at a time; Escape closes it and puts the focus back on its button; a click or
// the focus elsewhere closes it. <button data-nav-button> (a phone's "Menu") shows the whole
// navigation. Without JavaScript, css/nav_nojs.css shows every link instead.
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

  // --- The header's menus -----------------------------------------------------------------------

  function controlled(button) {
    return document.getElementById(button.getAttribute("aria-controls"));
  }

  function isOpen(button) {
    return button.getAttribute("aria-expanded") === "true";
  }

  function setMenu(button, open) {
    var list = controlled(button);
    if (!list) { return; }
    button.setAttribute("aria-expanded", open ? "true" : "false");
    list.hidden = !open;
  }

  function menuButtons() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-menu-button]"));
  }

  function closeMenus(except) {
    menuButtons().forEach(function (button) {
      if (button !== except && isOpen(button)) { setMenu(button, false); }
    });
  }

  function notificationMenu() {
    var menu = document.getElementById("notif-menu");
    return menu && menu.open ? menu : null;
  }

  function setNavigation(button, open) {
    var nav = controlled(button);
    if (!nav) { return; }
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("open", open);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var menuButton = target && target.closest("[data-menu-button]");
    if (menuButton) {
      var open = !isOpen(menuButton);
      closeMenus(menuButton);
      setMenu(menuButton, open);
      var notices = notificationMenu();
      if (notices) { notices.open = false; }
      return;
    }
    var navButton = target && target.closest("[data-nav-button]");
    if (navButton) {
      setNavigation(navButton, !isOpen(navButton));
      return;
    }
    // A click anywhere outside an open menu closes it (and the notifications, likewise).
    if (!target || !target.closest(".menu")) { closeMenus(null); }
    var menu = notificationMenu();
    if (menu && !(target && menu.contains(target))) { menu.open = false; }
  });

  // Opening the notifications closes the other menus: one thing open at a time.
  document.addEventListener("toggle", function (event) {
    if (event.target instanceof HTMLDetailsElement && event.target.id === "notif-menu" && event.target.open) {
      closeMenus(null);
    }
  }, true);

  // The focus moving out of an open menu (Tab past its last link) closes it.
  document.addEventListener("focusout", function (event) {
    var left = event.target instanceof Element ? event.target.closest(".menu") : null;
    var to = event.relatedTarget;
    // Not when the focus goes to another menu's button: its click closes this one, and closing
    // it before (on a phone, where the lists open in place) would move that button under the
    // pointer between press and release.
    if (!left || !to || left.contains(to) || (to.closest && to.closest("[data-menu-button]"))) { return; }
    var button = left.querySelector("[data-menu-button]");
    if (button && isOpen(button)) { setMenu(button, false); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" && event.key !== "Esc") { return; }
    var active = document.activeElement;
    var inMenu = active && active.closest ? active.closest(".menu") : null;
    var button = inMenu && inMenu.querySelector("[data-menu-button]");
    if (button && isOpen(button)) {
      setMenu(button, false);
      button.focus();
      event.preventDefault();
      return;
    }
    var notices = notificationMenu();
    if (notices) {
      notices.open = false;
      notices.querySelector("summary").focus();
      event.preventDefault();
      return;
    }
    var open = menuButtons().filter(isOpen);
    if (open.length) {
      closeMenus(null);
      open[0].focus();
      event.preventDefault();
      return;
    }
    var navButton = document.querySelector("[data-nav-button]");
    var nav = navButton && controlled(navButton);
    if (navButton && isOpen(navButton) && nav && (nav.contains(active) || active === navButton)) {
      setNavigation(navButton, false);
      navButton.focus();
      event.preventDefault();
    }
  });
})();
