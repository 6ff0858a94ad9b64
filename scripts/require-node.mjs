// npm scripts run on the `node` devDependency (Node 24); if its install script was skipped
// (--ignore-scripts), they silently fall back to the system Node. Fail early and say why.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`vvolgraph needs Node >= 22 and found ${process.version}: the node devDependency is missing (was npm run with --ignore-scripts?). Run npm install.`);
  process.exit(1);
}
