// Starts Swagger UI on the API docs page. The schema's address comes from the page (data-schema-url), so
// the page holds no inline script (the site's CSP has script-src 'self').
//
// What differs from Swagger UI's defaults keeps the reference accessible inside the site's page:
// - a layout of our own (VitrinaLayout): Swagger UI's BaseLayout draws a second <main> inside the page's
//   <main> and an <h1> of its own (the API's title, which the page's heading and lead already give); ours
//   is BaseLayout without them (and without the servers list, which this schema has not);
// - deepLinking off: a deep link is an <a> inside each operation's toggle button (nested-interactive);
// - the models section is not drawn: a second copy of what each operation already shows.
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) {
    return;
  }

  function VitrinaLayoutPlugin(system) {
    var h = system.React.createElement;

    function VitrinaLayout(props) {
      var get = props.getComponent;
      var spec = props.specSelectors;
      var Errors = get("errors", true);
      var status = spec.loadingStatus();
      if (status === "loading") {
        return h("div", { className: "swagger-ui" }, h("p", { role: "status" }, "Loading the API description…"));
      }
      if (status === "failed" || !spec.specStr()) {
        return h(
          "div",
          { className: "swagger-ui" },
          h("p", { role: "alert" }, "The API description could not be loaded."),
          h(Errors, null),
        );
      }
      var Row = get("Row");
      var Col = get("Col");
      var authorize = spec.securityDefinitions()
        ? h("div", { className: "scheme-container" }, h(Col, { className: "schemes wrapper", mobile: 12 }, h(get("AuthorizeBtnContainer", true), null)))
        : null;
      return h(
        "div",
        { className: "swagger-ui" },
        h(get("SvgAssets"), null),
        h(Errors, null),
        authorize,
        h("div", { id: "operations" }, h(Row, null, h(Col, { mobile: 12, desktop: 12 }, h(get("operations", true), null)))),
      );
    }

    return { components: { VitrinaLayout: VitrinaLayout } };
  }

  window.SwaggerUIBundle({
    url: root.getAttribute("data-schema-url"),
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    plugins: [VitrinaLayoutPlugin],
    layout: "VitrinaLayout",
    deepLinking: false,
    defaultModelsExpandDepth: -1,
    docExpansion: "list",
  });
})();
