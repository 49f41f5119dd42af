// ESLint, flat config: the recommended JavaScript and typescript-eslint rules.
// Layout is Prettier's business (.prettierrc.json), so eslint-config-prettier
// turns off the rules that would argue with it. `npm run lint` runs both,
// and clang-format over native/ (scripts/lint.js).
const js = require('@eslint/js');
const { defineConfig } = require('eslint/config');
const prettier = require('eslint-config-prettier/flat');
const globals = require('globals');
const tseslint = require('typescript-eslint');

module.exports = defineConfig([
  { ignores: ['dist/', 'build/', 'build-*/', 'prebuilds/', 'bench-results/', '.device/'] },
  js.configs.recommended,
  { files: ['**/*.ts'], extends: [tseslint.configs.recommended] },
  // The scripts, the test fixtures and the configs are CommonJS run by node.
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs', globals: globals.node } },
  prettier,
]);
