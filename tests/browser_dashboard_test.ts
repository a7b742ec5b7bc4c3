/**
 * The dashboard in a real browser: Chromium (playwright-core) against the
 * real API with API keys on, a real worker and the test database. The key
 * is typed into the page, jobs are submitted through the SDK, the list's
 * filters and the cancel button are used, and the job page's loss chart must
 * grow while the job runs and its status reach `succeeded`.
 *
 * Skipped, saying why, when /usr/bin/chromium is missing. With UPDATE_SCREENSHOT=1 the
 * finished job page is saved as docs/dashboard.png (the README shows it);
 * otherwise the screenshot goes to a temporary directory, so a test run
 * never changes the tree.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createFngdClient, type JobSpecInput } from "../sdk/mod.ts";
import { KEY_A, startApi } from "./_api.ts";
import { startWorker } from "./_worker.ts";

/** Debian's chromium; CHROMIUM names another build (or a missing one, to see the skip). */
const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const SCREENSHOT = new URL("../docs/dashboard.png", import.meta.url);

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const hasChromium = exists(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `browser_dashboard_test.ts skipped: ${CHROMIUM} is missing (apt-get install chromium)`,
  );
}

/** FNGD on synthetic data: 4 epochs, a few seconds on wasm, so steps arrive live. */
const SPEC = {
  model: {
    input_shape: [32],
    layers: [
      { type: "dense", units: 128, activation: "relu" },
      { type: "dense", units: 5 },
    ],
  },
  dataset: {
    name: "synthetic",
    samples: 20_000,
    features: 32,
    classes: 5,
    seed: 2,
  },
  optimizer: { name: "fngd", lr: 0.05, momentum: 0.9, damping: 1.0 },
  epochs: 4,
  batch_size: 64,
  seed: 11,
  validation_split: 0.1,
} satisfies JobSpecInput;

/** What the page's scripts must never log: CSP refusals, failed loads, exceptions. */
function watchErrors(page: import("playwright-core").Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

Deno.test({
  name: "dashboard in Chromium: key, list, filters, cancel, live charts",
  ignore: !hasChromium,
  async fn() {
    const api = await startApi();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox"],
    });
    let worker: ReturnType<typeof startWorker> | undefined;
    try {
      const page = await browser.newPage({
        viewport: { width: 1280, height: 860 },
      });
      page.setDefaultTimeout(30_000);
      const errors = watchErrors(page);
      const sdk = createFngdClient({ baseUrl: api.base, apiKey: KEY_A });

      // The shell asks for the key; the list then loads with it.
      await page.goto(`${api.base}/`);
      await page.locator("#key-form").waitFor({ state: "visible" });
      await page.fill('#key-form input[name="key"]', KEY_A);
      await page.click('#key-form button[type="submit"]');
      await page.waitForSelector('#jobs-list[data-count="0"]');

      const job = await sdk.jobs.create(SPEC);
      const other = await sdk.jobs.create({
        ...SPEC,
        optimizer: { name: "sgd", lr: 0.05 },
      });
      // The list refreshes itself.
      await page.waitForSelector(`tr[data-job-id="${job.id}"]`);

      await page.goto(`${api.base}/?optimizer=sgd`);
      await page.waitForSelector(`tr[data-job-id="${other.id}"]`);
      assert.equal(
        await page.locator(`tr[data-job-id="${job.id}"]`).count(),
        0,
        "the optimizer filter hides the fngd job",
      );

      // Cancel the sgd job from its page while no worker runs.
      await page.goto(`${api.base}/jobs/${other.id}`);
      await page.waitForSelector('#live-status[data-status="queued"]');
      await page.click("#cancel-job");
      await page.waitForSelector('#live-status[data-status="cancelled"]');
      assert.equal((await sdk.jobs.get(other.id)).status, "cancelled");

      // The fngd job's page, before any worker: no points yet.
      await page.goto(`${api.base}/jobs/${job.id}`);
      await page.waitForSelector('#live-status[data-status="queued"]');
      assert.equal(
        await page.getAttribute("#loss-chart", "data-points"),
        "0",
      );
      // Each chart's point counts, in the order the page sets them.
      await page.evaluate(`(() => {
        globalThis.seen = { "loss-chart": [0], "epoch-chart": [0] };
        for (const [id, values] of Object.entries(seen)) {
          const el = document.getElementById(id);
          new MutationObserver(() => {
            const n = Number(el.dataset.points);
            if (values.at(-1) !== n) values.push(n);
          }).observe(el, { attributes: true, attributeFilter: ["data-points"] });
        }
      })()`);

      worker = startWorker(api.tdb);
      await page.waitForSelector('#live-status[data-status="succeeded"]', {
        timeout: 60_000,
      }).catch((err) => {
        throw new Error(`${err}\nworker output:\n${worker?.output()}`);
      });

      const seen = await page.evaluate("seen") as Record<string, number[]>;
      // Epochs are far enough apart that each arrives on its own: the chart
      // grew with the events, not in one load at the end.
      assert.deepEqual(seen["epoch-chart"], [0, 1, 2, 3, 4]);
      const steps = seen["loss-chart"];
      assert.ok(steps.length >= 3, `the loss chart grew: ${steps.join(", ")}`);
      assert.deepEqual(steps, [...steps].sort((a, b) => a - b), "never shrank");
      await page.waitForSelector('#epoch-chart[data-points="4"]');
      const phases = await page.evaluate(
        `[...document.querySelectorAll("#epoch-rows tr")].map((r) => r.dataset.phase)`,
      );
      assert.deepEqual(phases, [
        "inversion",
        "inverse_free",
        "inverse_free",
        "inverse_free",
      ]);
      await page.waitForSelector("#coefficient-layers tbody tr");
      assert.equal(
        await page.locator("#coefficient-layers tbody tr").count(),
        2,
        "one coefficient row per trainable layer",
      );
      await page.waitForSelector('#job-summary[data-status="succeeded"]');

      // The download goes through fetch with the key, then to a file.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#download-model"),
      ]);
      assert.equal(download.suggestedFilename(), "model.json");
      const model = JSON.parse(await Deno.readTextFile(await download.path()));
      assert.equal(model.format, "layers-model");

      const shotDir = await Deno.makeTempDir({ prefix: "fngd_dashboard_" });
      try {
        const shot = `${shotDir}/dashboard.png`;
        await page.screenshot({ path: shot, fullPage: true });
        assert.ok((await Deno.stat(shot)).size > 10_000);
        if (Deno.env.get("UPDATE_SCREENSHOT") === "1") {
          await Deno.copyFile(shot, SCREENSHOT);
        }
      } finally {
        await Deno.remove(shotDir, { recursive: true });
      }
      assert.deepEqual(errors, [], "no console errors or CSP refusals");
    } finally {
      await browser.close();
      await worker?.stop();
      await api.close();
    }
  },
});

Deno.test({
  name: "API reference in Chromium: swagger-ui from this origin, under the CSP",
  ignore: !hasChromium,
  async fn() {
    const api = await startApi();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox"],
    });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      const errors = watchErrors(page);
      const elsewhere: string[] = [];
      page.on("request", (r) => {
        const url = r.url();
        if (!url.startsWith(`${api.base}/`) && !url.startsWith("data:")) {
          elsewhere.push(url);
        }
      });
      await page.goto(`${api.base}/docs`);
      await page.waitForSelector("#operations-jobs-createJob");
      // "Try it out" must go to the server the page came from.
      const servers = await page.locator(".servers select option")
        .allTextContents();
      assert.ok(servers[0].startsWith(api.base), servers.join(" | "));
      // A problem type's link lands on its row, below the reference.
      await page.goto(`${api.base}/docs#problem-job_not_found`);
      await page.waitForSelector("#operations-jobs-createJob");
      await page.locator("#problem-job_not_found").waitFor();
      assert.deepEqual(elsewhere, [], "no request left this origin");
      assert.deepEqual(errors, [], "no console errors or CSP refusals");
    } finally {
      await browser.close();
      await api.close();
    }
  },
});
