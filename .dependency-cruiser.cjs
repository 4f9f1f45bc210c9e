// Import rules, checked by `npm run lint` (scripts/check-imports.mjs adds the folder rule).
/* global module */
module.exports = {
  forbidden: [
    { name: "no-file-cycle", severity: "error", comment: "a file must not import itself back", from: {}, to: { circular: true } },
  ],
  options: {
    // Type-only imports count too: they are the coupling a cycle stands for.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
  },
};
