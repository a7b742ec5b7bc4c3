/**
 * GET /docs: swagger-ui over /openapi.json, its files served from this
 * origin, and below it the table of error codes that every problem's
 * `type` (`/docs#problem-<code>`) points into.
 */
import type { FC } from "hono/jsx";
import { raw } from "hono/html";
import { listProblemCodes } from "./problem.ts";

const ReferencePage: FC<{ title: string; specUrl: string }> = (
  { title, specUrl },
) => (
  <>
    {raw("<!doctype html>")}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title} · API reference</title>
        {/* No icon: spares every page a favicon request that would 404. */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/assets/vendor/swagger-ui.css" />
        <link rel="stylesheet" href="/assets/app/docs.css" />
      </head>
      <body>
        <nav class="top">
          <a href="/">Dashboard</a> <a href={specUrl}>openapi.json</a>{" "}
          <a href="#problems">Errors</a>
        </nav>
        <div id="swagger-ui" data-spec-url={specUrl}>
          <noscript>
            The interactive reference needs JavaScript; the document itself is
            at <a href={specUrl}>{specUrl}</a>.
          </noscript>
        </div>
        <section id="problems">
          <h2>Errors</h2>
          <p>
            Every error is <code>application/problem+json</code> (RFC 9457):
            {" "}
            <code>type</code>, <code>title</code>, <code>status</code>,{" "}
            <code>detail</code>, <code>code</code>, and{" "}
            <code>errors: [{"{path, in, message}"}]</code> for invalid fields.
          </p>
          <table>
            <thead>
              <tr>
                <th>code</th>
                <th>status</th>
                <th>title</th>
              </tr>
            </thead>
            <tbody>
              {listProblemCodes().map((p) => (
                <tr key={p.code} id={`problem-${p.code}`}>
                  <td>
                    <code>{p.code}</code>
                  </td>
                  <td>{p.status}</td>
                  <td>{p.title}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <script src="/assets/vendor/swagger-ui-bundle.js"></script>
        <script src="/assets/app/docs_page.js"></script>
      </body>
    </html>
  </>
);

/** The page's HTML; it is the same for every request. */
export function renderReferencePage(title: string, specUrl: string): string {
  return String(<ReferencePage title={title} specUrl={specUrl} />);
}
