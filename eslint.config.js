// Lint: typescript-eslint's recommended rules with type information, plus the
// two checks that catch this codebase's costly mistakes: a floating promise
// (an unawaited publish or insert whose failure nobody sees) and a switch over
// a variant that forgets an arm (a new event kind or channel silently ignored).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".costline/", "test-output/", "coverage/", "schemas/json/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts", "**/*.tsx"],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["vitest.config.ts"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "off",
      // Escaping and validation code matches control characters on purpose.
      "no-control-regex": "off",
    },
  },
  {
    // The console's one script runs in the browser, with uPlot loaded beside it.
    files: ["pipeline/console/static/**/*.js"],
    languageOptions: {
      globals: {
        document: "readonly",
        window: "readonly",
        ResizeObserver: "readonly",
        uPlot: "readonly",
        fetch: "readonly",
        console: "readonly",
        setTimeout: "readonly",
      },
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly" } },
  },
);
