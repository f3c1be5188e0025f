import { mount } from 'svelte';
import App from './App.svelte';
import { AppState } from './state/app.svelte';
import { chooseTransport } from './transport';
import './app.css';

const app = new AppState(chooseTransport());
mount(App, { target: document.getElementById('app')!, props: { app } });
