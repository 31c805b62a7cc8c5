import { render } from 'preact';
import './style.css';
import { App } from './app.js';
import { html } from './html.js';

const root = document.getElementById('app')!;
// The page's "Loading" text is for before the script runs; Preact appends rather than replaces it.
root.textContent = '';
render(html`<${App} />`, root);
