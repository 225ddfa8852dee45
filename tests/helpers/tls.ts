/**
 * Test certificates made with openssl (Debian's, on every machine the suite runs): a CA and a server
 * certificate for 127.0.0.1, and client certificates signed by that CA. Valid for one day.
 */
import assert from "node:assert/strict";

/** Whether an `openssl` binary runs here. */
export function haveOpenssl(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" }).output();
  assert.ok(out.success, `openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** Writes ca.key, ca.pem and a server certificate for 127.0.0.1 (server.key, server.pem) into `dir`. */
export async function makeCaAndServerCert(dir: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=flowsweep test CA",
  ], dir); // deno-fmt-ignore
  await openssl([
    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
  ], dir); // deno-fmt-ignore
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  ], dir); // deno-fmt-ignore
}

/** Writes a client certificate (client.key, client.pem) for `cn` into `dir`, signed by the CA in `caDir`. */
export async function makeClientCert(dir: string, caDir: string, cn: string): Promise<void> {
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "client.key",
    "-out",
    "client.csr",
    "-subj",
    `/CN=${cn}`,
  ], dir); // deno-fmt-ignore
  await openssl([
    "x509", "-req", "-in", "client.csr", "-CA", `${caDir}/ca.pem`, "-CAkey", `${caDir}/ca.key`,
    "-CAcreateserial", "-out", "client.pem", "-days", "1",
  ], dir); // deno-fmt-ignore
}
