// The admin console in a real browser: headless Chromium (Debian's) driven by playwright-core.
// Starts `snibind serve` on loopback with a store, certificates and an admin token, then checks
// that the page loads, the tables show the store's records, the explain form returns the right
// decision, and a netsh add through the API appears on the page. Saves a screenshot.
//
//   node tests/browser/console_test.mjs SNIBIND_BINARY SCREENSHOT_DIR
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [binary, shots] = process.argv.slice(2);
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// Like free_port() of the C++ harness: below the ephemeral range, so that no client socket is
// handed the port between this check and the server's bind.
async function freePort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise((resolve) => {
      const s = createServer().once("error", () => resolve(false))
        .listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
function thumbprint(pem) {
  const out = execFileSync("openssl", ["x509", "-noout", "-fingerprint", "-sha1", "-in", pem]).toString();
  return out.split("=")[1].trim().replaceAll(":", "").toLowerCase();
}

const dir = mkdtempSync(join(tmpdir(), "snibind-console-"));
let server, browser;
try {
  execFileSync(join(repo, "scripts", "lab-certs.sh"), [join(dir, "certs")]);
  const port = await freePort(), adminPort = await freePort();
  const token = "console-test-token-0123456789";
  const sitev2 = thumbprint(join(dir, "certs", "sitev2.pem"));
  const ip2 = thumbprint(join(dir, "certs", "ip2.pem"));
  writeFileSync(join(dir, "token"), token + "\n");
  // The store starts with one SNI record; the config adds the default record.
  execFileSync(binary, ["netsh", "--store", join(dir, "sslcert.txt"), "http", "add", "sslcert",
    `hostnameport=sitev2.mysite.com:${port}`, `certhash=${sitev2}`, "appid={4dc3e181-e14b-4a21-b022-59fc669b0914}",
    "certstorename=MY"]);
  writeFileSync(join(dir, "config.yaml"), [
    `listen: ["127.0.0.1:${port}", "127.0.0.2:${port}"]`,
    `store: sslcert.txt`,
    `certificates: [certs/default.pem, certs/sitev2.pem, certs/ip2.pem]`,
    `records:`,
    `  "ipport=0.0.0.0:${port}": { certificate: certs/default.pem }`,
    `admin: "127.0.0.1:${adminPort}"`,
    `admin_token_file: token`,
    `limits: { drain_timeout: 1s }`,
    `access_log: off`, ""].join("\n"));

  server = spawn(binary, ["serve", join(dir, "config.yaml"), "--threads", "1"], { stdio: ["ignore", "ignore", "pipe"] });
  let serverLog = "";
  await new Promise((resolve, reject) => {
    server.stderr.on("data", (d) => { serverLog += d; if (serverLog.includes("snibind: serving ")) resolve(); });
    server.on("exit", (code) => reject(new Error(`snibind serve exited ${code}:\n${serverLog}`)));
  });

  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const base = `http://127.0.0.1:${adminPort}`;
  await page.goto(base + "/");
  assert.equal(await page.title(), "snibind admin");

  // IP based view: the 0.0.0.0 record with its certificate's subject and health.
  await page.waitForSelector(`#ip-table td:text-is("IP:port 0.0.0.0:${port}")`);
  assert.match(await page.textContent("#ip-table"), /CN=sitev1\.mysite\.com/);
  assert.equal(await page.textContent("#ip-table td.ok"), "ok");  // health of the certificate
  // SNI view: the store's record.
  await page.click('nav button[data-view="sni"]');
  await page.waitForSelector(`#sni-table td:text-is("Hostname:port sitev2.mysite.com:${port}")`);
  assert.match(await page.textContent("#sni-table"), new RegExp(sitev2));

  // Explain: SNI sitev2 hits the SNI record (L1 step 1); no SNI on 127.0.0.1 falls to 0.0.0.0.
  await page.click('nav button[data-view="explain"]');
  await page.fill('#explain-form input[name="dst"]', `127.0.0.1:${port}`);
  await page.fill('#explain-form input[name="sni"]', "sitev2.mysite.com");
  await page.click('#explain-form button[type="submit"]');
  await page.waitForSelector("#explain-trace td");
  assert.match(await page.textContent("#explain-outcome"), new RegExp(`selected: Hostname:port sitev2\\.mysite\\.com:${port} — certificate ${sitev2}`));
  await page.fill('#explain-form input[name="sni"]', "");
  await page.click('#explain-form button[type="submit"]');
  await page.waitForFunction((p) => document.querySelector("#explain-outcome").textContent.includes(`IP:port 0.0.0.0:${p}`), port);
  await page.screenshot({ path: join(shots, "console-explain.png"), fullPage: true });

  // netsh add through the console: a record for 127.0.0.2, then it shows in the IP view.
  await page.click('nav button[data-view="netsh"]');
  await page.fill('#netsh-form input[name="token"]', token);
  await page.fill('#netsh-form input[name="command"]',
    `http add sslcert ipport=127.0.0.2:${port} certhash=${ip2} appid={4dc3e181-e14b-4a21-b022-59fc669b0914}`);
  await page.click('#netsh-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#netsh-output").textContent.length > 0);
  assert.match(await page.textContent("#netsh-output"), /SSL Certificate successfully added/);
  await page.click('nav button[data-view="ip"]');
  await page.waitForSelector(`#ip-table td:text-is("IP:port 127.0.0.2:${port}")`);
  assert.match(await page.textContent("#ip-table"), new RegExp(ip2));
  // A wrong token is refused.
  const refused = await page.evaluate(async () => (await fetch("/api/netsh", { method: "POST",
    headers: { Authorization: "Bearer wrong" }, body: "http delete sslcert ipport=0.0.0.0:1" })).status);
  assert.equal(refused, 401);
  // The live counters view renders.
  await page.click('nav button[data-view="stats"]');
  await page.waitForSelector("#counters .counter");
  await page.screenshot({ path: join(shots, "console-ip.png"), fullPage: true });
  await page.click('nav button[data-view="ip"]');
  await page.screenshot({ path: join(shots, "console-records.png"), fullPage: true });
  console.log("console test passed; screenshots in " + shots);
} finally {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.on("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
