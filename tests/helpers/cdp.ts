/**
 * Headless Chromium driven over the DevTools protocol (a WebSocket), for pages that change while open: the live
 * dashboard is checked by evaluating the DOM several times without reloading, and screenshotted mid-run.
 */
import { CHROMIUM } from "./browser.ts";

export interface Page {
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>;
  /** Evaluates an expression in the page; returns its (JSON) value. */
  eval<T = unknown>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy (or throws after `timeoutMs`). */
  waitFor<T = unknown>(expression: string, timeoutMs?: number): Promise<T>;
  /** PNG of the whole page at the given viewport width. */
  screenshot(width?: number): Promise<Uint8Array>;
  /** PNG of the region covering the elements matching these selectors (with a margin). */
  screenshotOf(selectors: string[], width?: number): Promise<Uint8Array>;
}

export interface Browser {
  page: Page;
  close(): Promise<void>;
}

export async function launch(
  userDataDir: string,
  windowSize = { width: 1280, height: 900 },
): Promise<Browser> {
  const proc = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      "--remote-debugging-port=0",
      `--window-size=${windowSize.width},${windowSize.height}`,
      `--user-data-dir=${userDataDir}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
  const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let port = 0;
  const deadline = Date.now() + 30_000;
  while (!port) {
    if (Date.now() > deadline) throw new Error(`chromium did not start:\n${buf.slice(-2000)}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`chromium exited:\n${buf.slice(-2000)}`);
    buf += value;
    const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(buf);
    if (m) port = Number(m[1]);
  }
  // keep draining stderr so chromium never blocks on it
  (async () => {
    try {
      while (!(await reader.read()).done) { /* drain */ }
    } catch { /* closed */ }
  })();
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(targets.find((t) => t.type === "page")!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, (() => void)[]>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`${msg.error.message}`));
      else p?.resolve(msg.result);
    } else if (msg.method) {
      for (const l of listeners.get(msg.method) ?? []) l();
      listeners.delete(msg.method);
    }
  };
  const send = <T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  const once = (method: string) =>
    new Promise<void>((resolve) => listeners.set(method, [...(listeners.get(method) ?? []), resolve]));
  await send("Page.enable");
  await send("Runtime.enable");

  const page: Page = {
    async goto(url) {
      const loaded = once("Page.loadEventFired");
      await send("Page.navigate", { url });
      await loaded;
    },
    async eval<T>(expression: string) {
      const r = await send<{ result: { value?: T }; exceptionDetails?: { text: string } }>(
        "Runtime.evaluate",
        {
          expression,
          returnByValue: true,
          awaitPromise: true,
        },
      );
      if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.text} in ${expression}`);
      return r.result.value as T;
    },
    async waitFor<T>(expression: string, timeoutMs = 60_000) {
      const t0 = Date.now();
      while (true) {
        const v = await page.eval<T>(expression);
        if (v) return v;
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${expression}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async screenshot(width = windowSize.width) {
      const h = await page.eval<number>("document.documentElement.scrollHeight");
      await send("Emulation.setDeviceMetricsOverride", {
        width,
        height: h,
        deviceScaleFactor: 1,
        mobile: false,
      });
      const r = await send<{ data: string }>("Page.captureScreenshot", { format: "png" });
      await send("Emulation.clearDeviceMetricsOverride");
      return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
    },
    async screenshotOf(selectors: string[], width = windowSize.width) {
      const h = await page.eval<number>("document.documentElement.scrollHeight");
      await send("Emulation.setDeviceMetricsOverride", {
        width,
        height: h,
        deviceScaleFactor: 1,
        mobile: false,
      });
      const box = await page.eval<{ x: number; y: number; w: number; h: number } | null>(`(() => {
        const rs = ${JSON.stringify(selectors)}.map((s) => document.querySelector(s)?.getBoundingClientRect())
          .filter(Boolean);
        if (!rs.length) return null;
        const x0 = Math.min(...rs.map((r) => r.left)), y0 = Math.min(...rs.map((r) => r.top)) + scrollY;
        const x1 = Math.max(...rs.map((r) => r.right)), y1 = Math.max(...rs.map((r) => r.bottom)) + scrollY;
        return { x: Math.max(0, x0 - 12), y: Math.max(0, y0 - 12), w: x1 - x0 + 24, h: y1 - y0 + 24 };
      })()`);
      if (!box) throw new Error(`nothing matches ${selectors.join(", ")}`);
      const r = await send<{ data: string }>("Page.captureScreenshot", {
        format: "png",
        clip: { x: box.x, y: box.y, width: box.w, height: box.h, scale: 1 },
      });
      await send("Emulation.clearDeviceMetricsOverride");
      return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
    },
  };
  return {
    page,
    async close() {
      try {
        ws.close();
      } catch { /* closed */ }
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
      await proc.status;
      await reader.cancel().catch(() => {});
    },
  };
}
