// A Cosmos DB SQL-API server for the tests, on 127.0.0.1 with HTTP keep-alive.
//
//   node cosmos_server.js <cert.pem> <key.pem> [port]
//
// The package's CLI uses its bundled certificate, which has expired, and closes
// every connection; this starts the same server with the test fixture's
// self-signed certificate instead. Prints "listening <port>" once ready (port 0
// picks a free one) and exits when stdin closes, so it never outlives its fixture.
"use strict";
const fs = require("fs");
const path = require("path");

const [certFile, keyFile, portArg] = process.argv.slice(2);
if (!certFile || !keyFile) {
  console.error("usage: node cosmos_server.js <cert.pem> <key.pem> [port]");
  process.exit(2);
}
const projectDir = path.resolve(__dirname, "..", "..", "..");
const { default: cosmosServer } = require(require.resolve("@vercel/cosmosdb-server", { paths: [projectDir] }));

const server = cosmosServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  keepAlive: true,
});
server.keepAliveTimeout = 30000;
server.listen(Number(portArg || 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
