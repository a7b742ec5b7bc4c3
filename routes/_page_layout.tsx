/**
 * The frame of every dashboard page: head, navigation, the API-key form
 * (shown by api_key.js when the server has API_KEYS), and the page's own
 * styles and scripts, all from this origin.
 */
import type { Child, FC } from "hono/jsx";
import { raw } from "hono/html";

/** Whether the pages load data with a key the visitor types (API_KEYS set). */
export type PageAuth = "required" | "off";

export interface LayoutProps {
  title: string;
  auth: PageAuth;
  /** Stylesheet URLs besides the dashboard's own. */
  styles?: string[];
  /** Classic scripts (vendor builds), loaded before the module. */
  scripts?: string[];
  /** The page's module script. */
  module: string;
  children?: Child;
}

export const Layout: FC<LayoutProps> = (props) => (
  <>
    {raw("<!doctype html>")}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · FNGD training service</title>
        {(props.styles ?? []).map((href) => (
          <link key={href} rel="stylesheet" href={href} />
        ))}
        {/* No icon: spares every page a favicon request that would 404. */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/assets/app/dashboard.css" />
      </head>
      <body data-auth={props.auth}>
        <header class="top">
          <nav>
            <a href="/" class="brand">FNGD training</a>
            <a href="/">Jobs</a>
            <a href="/docs">API reference</a>
          </nav>
          <button id="forget-key" type="button" hidden>Forget API key</button>
        </header>
        <form id="key-form" class="key-form" hidden>
          <p id="key-message">
            This server requires an API key. It is kept in this tab only
            (sessionStorage) and sent as a bearer token.
          </p>
          <label>
            API key{" "}
            <input
              name="key"
              type="password"
              autocomplete="off"
              required
            />
          </label>{" "}
          <button type="submit">Use key</button>
        </form>
        <main>{props.children}</main>
        {(props.scripts ?? []).map((src) => (
          <script key={src} src={src}></script>
        ))}
        <script type="module" src={props.module}></script>
      </body>
    </html>
  </>
);

/** The page for a job id that names nothing this visitor may see. */
export const NotFoundPage: FC<{ auth: PageAuth; message: string }> = (
  props,
) => (
  <Layout title="Not found" auth={props.auth} module="/assets/app/api_key.js">
    <h1>Not found</h1>
    <p class="notice">{props.message}</p>
    <p>
      <a href="/">All jobs</a>
    </p>
  </Layout>
);
