/**
 * Node-RED settings for the benchmark (row 4 of `npm run bench`): headless, no editor and no admin API, flows from
 * the copied bench/node-red/flows.json in a temporary userDir, loopback only, no telemetry or update checks.
 * Start: node node_modules/node-red/red.js --settings bench/node-red/settings.cjs --userDir <tmp> (PORT from env).
 */
module.exports = {
  uiPort: Number(process.env.PORT || 1880),
  uiHost: '127.0.0.1',
  flowFile: 'flows.json', // relative to --userDir, where bench/run.ts copies bench/node-red/flows.json
  flowFilePretty: false,
  credentialSecret: false,
  httpAdminRoot: false, // no editor, no admin API
  disableEditor: true,
  httpNodeRoot: '/',
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false } },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  functionExternalModules: false,
  diagnostics: { enabled: false, ui: false },
  runtimeState: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
};
