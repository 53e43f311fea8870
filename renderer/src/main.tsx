import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { config as zodConfig } from 'zod';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { App } from './App.js';
import { createDefaultClient } from './api/client.js';
import { ApiProvider } from './api/context.js';

// The CSP forbids eval; tell zod up front instead of letting it probe with `new Function` (a CSP violation).
zodConfig({ jitless: true });

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <ApiProvider client={createDefaultClient()}>
      <App />
    </ApiProvider>
  </StrictMode>,
);
