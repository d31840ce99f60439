/* Desmigras console: what is new, without reloading (issue 26).
 *
 * The only script of the console, served from /kelola/konsol.js (the policy
 * allows scripts from this origin only, never inline). Every page works
 * without it: the queue is complete when it loads, and reloading it shows
 * what came since. With it, the queue asks /kelola/antrean/baru.json every
 * 20 seconds while the tab is visible and updates the "N pesan baru" badges,
 * the count on the menu and in the title, and says when a new case came in.
 * The poll does not keep the session alive: after the idle limit the answer
 * is the sign-in page, and the script stops.
 *
 * On the print view it shows the "Cetak" button (print needs a script).
 */
(function () {
  "use strict";
  var EVERY = 20000;

  function badge(parent, cls, text) {
    var found = parent.querySelector("." + cls);
    if (!text) {
      if (found) { found.remove(); }
      return;
    }
    if (!found) {
      found = document.createElement("span");
      found.className = "badge " + cls;
      parent.appendChild(document.createTextNode(" "));
      parent.appendChild(found);
    }
    found.textContent = text;
  }

  function show(news, queue) {
    if (news.belum_dibaca) {
      queue.querySelectorAll("tr[data-kode]").forEach(function (row) {
        var count = news.belum_dibaca[row.getAttribute("data-kode")] || 0;
        badge(row.querySelector("td.lead"), "unread", count ? count + " pesan baru" : "");
      });
      var menu = document.querySelector("header a[href='/kelola/antrean']");
      if (menu) { badge(menu, "menu-unread", news.jumlah ? String(news.jumlah) : ""); }
      document.title = (news.jumlah ? "(" + news.jumlah + ") " : "") + document.title.replace(/^\(\d+\) /, "");
    }
    var notice = document.getElementById("ada-baru");
    if (notice && news.terbaru && news.terbaru !== queue.getAttribute("data-terbaru")) {
      notice.hidden = false;
    }
  }

  function poll(queue, address) {
    var timer = null;
    function ask() {
      if (document.hidden) { return; }
      fetch(address, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (answer) {
          var type = answer.headers.get("content-type") || "";
          if (!answer.ok || type.indexOf("application/json") !== 0) { throw new Error("signed out"); }
          return answer.json();
        })
        .then(function (news) { show(news, queue); })
        .catch(function () { window.clearInterval(timer); });
    }
    timer = window.setInterval(ask, EVERY);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { ask(); } });
  }

  var queue = document.querySelector("[data-baru]");
  if (queue) { poll(queue, queue.getAttribute("data-baru")); }

  var printer = document.querySelector("[data-cetak]");
  if (printer) {
    printer.hidden = false;
    printer.addEventListener("click", function () { window.print(); });
  }
})();
