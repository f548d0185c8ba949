/**
 * Test helper: a throw-away CA with a server certificate (127.0.0.1 /
 * localhost) and client certificates, generated with the `openssl` CLI into a
 * temporary directory. X.509 v3 with the extensions rustls insists on.
 *
 * @module
 */

/** Paths of the generated PEM files. */
export interface TestCerts {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** Client certificate signed by the CA, subject CN=client1, O=acme. */
  clientCert: string;
  clientKey: string;
  /** Client certificate signed by an unrelated CA (CN=intruder). */
  strangerCert: string;
  strangerKey: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/** True when the openssl CLI can be run. */
export async function opensslAvailable(): Promise<boolean> {
  try {
    const out = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    ...EC,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]); // deno-fmt-ignore
}

async function makeLeaf(
  dir: string,
  ca: string,
  name: string,
  subject: string,
  extensions: string,
): Promise<void> {
  await openssl(dir, [
    "req",
    ...EC,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ]); // deno-fmt-ignore
}

/** Generates the certificates (about 100 ms). */
export async function makeTestCerts(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "edgemq-certs-" });
  await makeCa(dir, "ca");
  await makeCa(dir, "otherca");
  await makeLeaf(
    dir,
    "ca",
    "server",
    "/CN=localhost",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  const clientExt = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n" +
    "extendedKeyUsage=clientAuth\n";
  await makeLeaf(dir, "ca", "client", "/CN=client1/O=acme", clientExt);
  await makeLeaf(dir, "otherca", "stranger", "/CN=intruder", clientExt);
  return {
    dir,
    caCert: `${dir}/ca.crt`,
    serverCert: `${dir}/server.crt`,
    serverKey: `${dir}/server.key`,
    clientCert: `${dir}/client.crt`,
    clientKey: `${dir}/client.key`,
    strangerCert: `${dir}/stranger.crt`,
    strangerKey: `${dir}/stranger.key`,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
