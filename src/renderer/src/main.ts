import { mount } from 'svelte';
import App from './App.svelte';
import NeedsToken from './common/NeedsToken.svelte';
import { AppState } from './state/app.svelte';
import { chooseTransport } from './transport';
import './app.css';

const transport = chooseTransport();
const target = document.getElementById('app')!;
if (transport) mount(App, { target, props: { app: new AppState(transport) } });
else mount(NeedsToken, { target });
