import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

const nodeOnly = ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads', 'http', 'net', 'crypto'];
const native = ['better-sqlite3', 'onnxruntime-node', 'serialport', 'electron', 'ws'];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'release/**',
      '.tmp/**',
      'test-results/**',
      'test/fixtures/recorded/**',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    ignores: ['models/onnx/schema.ts', 'models/onnx/onnx-proto.d.cts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'onnx-proto',
              message: "Import { onnx } from models/onnx/schema.js: it fixes onnx-proto's packed encoding.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: [...nodeOnly, ...native, 'react', 'react-dom'], message: 'shared/ is pure TypeScript.' },
            {
              group: ['../main/*', '../models/*', '../devices/*', '../renderer/*'],
              message: 'shared/ imports nothing of ours.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeOnly, ...native],
              message: 'The renderer never touches Node or native modules.',
            },
            {
              group: ['**/main/**', '**/models/**', '**/devices/**'],
              message: 'The renderer imports shared/ only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['devices/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/main/**', '**/renderer/**'], message: 'devices/ never imports the console.' },
          ],
        },
      ],
    },
  },
);
