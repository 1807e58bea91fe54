// My uploads: drop files or whole folders on the page, or choose them, and each file is sent
// on its own with a progress bar. The page works without this script (a plain form).
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("progress");
  if (!form || !zone || !list || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  var words = document.getElementById("upload-words").dataset;
  document.getElementById("drop-hint").hidden = false;

  function entries(entry, path) {
    // a dropped file, or every file of a dropped folder (read a batch at a time)
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { resolve([{ file: file, name: path + file.name }]); },
          function () { resolve([]); });
        return;
      }
      var reader = entry.createReader();
      var found = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) {
            Promise.all(found).then(function (parts) { resolve([].concat.apply([], parts)); });
            return;
          }
          batch.forEach(function (child) { found.push(entries(child, path + entry.name + "/")); });
          more();
        }, function () { resolve([]); });
      })();
    });
  }

  function dropped(transfer) {
    var waits = [];
    var items = transfer.items || [];
    for (var i = 0; i < items.length; i++) {
      var entry = items[i].webkitGetAsEntry ? items[i].webkitGetAsEntry() : null;
      if (entry) {
        waits.push(entries(entry, ""));
      } else if (items[i].kind === "file") {
        var file = items[i].getAsFile();
        if (file) { waits.push(Promise.resolve([{ file: file, name: file.name }])); }
      }
    }
    return Promise.all(waits).then(function (parts) { return [].concat.apply([], parts); });
  }

  function chosen() {
    var found = [];
    ["files", "folder"].forEach(function (id) {
      var input = document.getElementById(id);
      for (var i = 0; input && i < input.files.length; i++) {
        var file = input.files[i];
        found.push({ file: file, name: file.webkitRelativePath || file.name });
      }
    });
    return found;
  }

  function sendOne(item) {
    return new Promise(function (resolve) {
      var row = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = item.name;
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", item.name);
      var said = document.createElement("span");
      said.className = "nhsuk-body-s";
      row.appendChild(label);
      row.appendChild(document.createElement("br"));
      row.appendChild(bar);
      row.appendChild(said);
      list.appendChild(row);
      var data = new FormData();
      data.append("csrf_token", form.elements.csrf_token.value);
      data.append("type", form.elements.type.value);
      data.append("description", form.elements.description.value);
      data.append("files", item.file, item.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          bar.value = Math.round((event.loaded / event.total) * 100);
        }
      });
      xhr.addEventListener("load", function () {
        var ok = xhr.status === 200;
        var text = ok ? words.stored : words.refused;
        try {
          var result = JSON.parse(xhr.responseText).results[0];
          if (!result.ok) { text = (result.lead + " " + (result.reason || "")).trim(); }
        } catch (ignored) { /* the words above */ }
        bar.value = 100;
        said.textContent = " " + text;
        row.className = ok ? "portal-stored" : "portal-refused nhsuk-error-message";
        resolve(ok);
      });
      xhr.addEventListener("error", function () {
        said.textContent = " " + words.failed;
        row.className = "portal-refused nhsuk-error-message";
        resolve(false);
      });
      xhr.send(data);
    });
  }

  function sendAll(items) {
    if (!items.length) { return; }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    var chain = Promise.resolve();
    items.forEach(function (item) { chain = chain.then(function () { return sendOne(item); }); });
    chain.then(function () {
      // the list, the quota line and every file's outcome, as the server now has them
      window.location.assign(form.action + "?done=1");
    });
  }

  form.addEventListener("submit", function (event) {
    var items = chosen();
    if (!items.length) { return; } // the server says what is missing
    event.preventDefault();
    sendAll(items);
  });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("portal-over");
    });
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("portal-over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("portal-over");
    dropped(event.dataTransfer).then(sendAll);
  });
})();
