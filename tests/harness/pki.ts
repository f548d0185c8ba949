/**
 * A throw-away certificate authority made with openssl, for TLS tests.
 *
 * @module
 */

/** Run openssl with args in cwd; throws with its stderr on failure. */
export async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Subjects and names of the certificates {@link makePki} makes. */
export interface PkiNames {
  /** Subject of the CA, e.g. "/CN=e2e-ca". */
  caSubject: string;
  /** subjectAltName of the server certificate, e.g. "IP:127.0.0.1". */
  serverAltName: string;
  /** Subject of the server certificate. */
  serverSubject: string;
  /** Subject of the client certificate. */
  clientSubject: string;
}

/**
 * Make ca.{crt,key}, server.{crt,key} (serverAuth) and client.{crt,key}
 * (clientAuth) in dir, all EC P-256, valid for two days.
 */
export async function makePki(dir: string, names: PkiNames): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    names.caSubject,
  ], dir);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    `subjectAltName=${names.serverAltName}\nextendedKeyUsage=serverAuth\n`,
  );
  await Deno.writeTextFile(`${dir}/client.ext`, "extendedKeyUsage=clientAuth\n");
  for (
    const [who, subj] of [["server", names.serverSubject], ["client", names.clientSubject]]
  ) {
    await openssl(
      ["req", ...ec, "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", subj],
      dir,
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      `${who}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${who}.crt`,
      "-days",
      "2",
      "-extfile",
      `${who}.ext`,
    ], dir);
  }
}
