/** Test certificates made with openssl: a CA and a server certificate for 127.0.0.1. */

/** PEM files in a temp directory. */
export interface TestCertificates extends AsyncDisposable {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A CA that did not sign the server certificate. */
  readonly otherCaCert: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", { args, cwd, stderr: "piped" })
    .output();
  if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

async function makeCa(name: string, cwd: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  ], cwd);
}

/** Creates a CA, a server certificate it signs (SAN IP:127.0.0.1) and an unrelated CA. */
export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-certs-" });
  await makeCa("ca", dir);
  await makeCa("other-ca", dir);
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ], dir);
  await Deno.writeTextFile(`${dir}/san.ext`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
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
    "2",
    "-extfile",
    "san.ext",
  ], dir);
  // Mosquitto started as root reads them as its own user.
  await Deno.chmod(dir, 0o755);
  for (const file of ["server.key", "server.pem", "ca.pem"]) {
    await Deno.chmod(`${dir}/${file}`, 0o644);
  }
  return {
    dir,
    caCert: `${dir}/ca.pem`,
    serverCert: `${dir}/server.pem`,
    serverKey: `${dir}/server.key`,
    otherCaCert: `${dir}/other-ca.pem`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
