// GET /docs: swagger-ui over this server's own OpenAPI document. The
// document names the default local server; "Try it out" must call the
// origin the page came from (CSP allows no other), so that is put first.
/* global SwaggerUIBundle */
const root = document.getElementById("swagger-ui");

async function start() {
  const res = await fetch(root.dataset.specUrl);
  const spec = await res.json();
  spec.servers = [
    { url: location.origin, description: "this server" },
    ...(spec.servers ?? []).filter((s) => s.url !== location.origin),
  ];
  SwaggerUIBundle({
    spec,
    domNode: root,
    // Deep links are `#/tag/operation`; a problem type's `#problem-<code>`
    // is the error table's, and swagger-ui would misread it as one.
    deepLinking: !location.hash.startsWith("#problem-"),
    // The default validator badge would call validator.swagger.io.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    onComplete() {
      // The reference renders after load, moving the error table down:
      // scroll to a problem type's anchor once it is in place.
      if (location.hash.startsWith("#problem-")) {
        document.getElementById(location.hash.slice(1))?.scrollIntoView();
      }
    },
  });
}

start().catch((err) => {
  root.textContent = `The reference could not be loaded: ${err}`;
});
