// Suggests recipients from the directory while the «À» field is typed in (no inline script: CSP).
(function () {
  "use strict";
  var field = document.getElementById("id_to");
  var list = document.getElementById("annuaire");
  if (!field || !list) { return; }
  var endpoint = field.getAttribute("data-suggest-url");
  var timer = null;
  var lastQuery = "";

  function currentToken() {
    var parts = field.value.split(/[,;]/);
    return parts[parts.length - 1].trim();
  }

  function fill(suggestions) {
    var prefix = field.value.replace(/[^,;]*$/, "");
    list.textContent = "";
    suggestions.forEach(function (suggestion) {
      var option = document.createElement("option");
      option.value = (prefix ? prefix.trim() + " " : "") + suggestion.address;
      option.label = suggestion.label;
      option.textContent = suggestion.label;
      list.appendChild(option);
    });
  }

  field.addEventListener("input", function () {
    var query = currentToken();
    if (query.length < 2 || query === lastQuery || query.indexOf("@") !== -1) { return; }
    lastQuery = query;
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(endpoint + "?q=" + encodeURIComponent(query), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
        .then(function (data) { if (query === currentToken()) { fill(data.suggestions); } })
        .catch(function () { /* the field still accepts a typed address */ });
    }, 150);
  });
}());
