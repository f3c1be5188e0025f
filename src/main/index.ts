import './thread-pool.js';
import { app, BrowserWindow, dialog, Menu, session, shell, type MenuItemConstructorOptions } from 'electron';
import { join } from 'node:path';
import type { EngineService } from '../engine/jobs/service/service-contract.js';
import { registerPhotoScheme, wireIpc } from './ipc.js';
import { trustedPage } from './trust.js';
import { contentSecurityPolicy } from '../shared/csp.js';
import { PHOTO_SCHEME } from '../preload/contract.js';

type EngineModule = typeof import('../engine/jobs/service/service-thread.js');
type PathsModule = typeof import('../engine/common/paths.js');

// The engine runs from its Node build (out/node), not bundled: its feature workers are separate files.
const engineUrl = (file: string) => new URL(`../node/engine/${file}`, import.meta.url).href;
const rendererHtml = join(import.meta.dirname, '../renderer/index.html');
const devUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined;

/** Only our own page may call the engine: the built renderer, or the dev server's origin in development. */
const isTrusted = trustedPage({ rendererHtml, devUrl });

registerPhotoScheme();
if (!app.requestSingleInstanceLock()) app.quit();

let service: EngineService | null = null;
let window: BrowserWindow | null = null;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1320,
    height: 860,
    minWidth: 960,
    minHeight: 620,
    show: false,
    title: 'Lookalike',
    backgroundColor: '#15171a',
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      webviewTag: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    if (window === win) window = null;
  });
  if (devUrl) void win.loadURL(devUrl);
  else void win.loadFile(rendererHtml);
  return win;
}

async function openFolderFromMenu(): Promise<void> {
  if (!service || !window) return;
  const picked = await dialog.showOpenDialog(window, { title: 'Open a photo library', buttonLabel: 'Open library', properties: ['openDirectory'] });
  const root = picked.filePaths[0];
  // The engine announces the opened library as an event; the page follows it.
  if (!picked.canceled && root) await service.handlers.openLibrary({ root }).catch((error: Error) => dialog.showErrorBox('Could not open the folder', error.message));
}

function applicationMenu(): Menu {
  const template: MenuItemConstructorOptions[] = [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [{ label: 'Open Library Folder…', accelerator: 'CmdOrCtrl+O', click: () => void openFolderFromMenu() }, { type: 'separator' }, { role: process.platform === 'darwin' ? 'close' : 'quit' }],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' as const }]),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'About Lookalike', role: 'about' }] },
  ];
  return Menu.buildFromTemplate(template);
}

// Every web contents: no new windows, no navigation away from our page, no <webview>.
app.on('web-contents-created', (_event, contents) => {
  contents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event, url) => {
    if (!isTrusted(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isTrusted(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
});

app.on('second-instance', () => {
  if (!window) return;
  if (window.isMinimized()) window.restore();
  window.focus();
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

app.on('activate', () => {
  if (service && BrowserWindow.getAllWindows().length === 0) window = createWindow();
});

let closing = false;
app.on('before-quit', (event) => {
  if (!service || closing) return;
  closing = true;
  event.preventDefault();
  void service.close().finally(() => {
    service = null;
    app.quit();
  });
});

void app.whenReady().then(async () => {
  app.setAboutPanelOptions({ applicationName: 'Lookalike', applicationVersion: app.getVersion() });
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  // The built page carries its CSP in a meta tag; the dev server's responses get the header too.
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });

  const [{ createThreadedEngineService }, { userCacheDir }] = (await Promise.all([import(/* @vite-ignore */ engineUrl('jobs/service-thread.js')), import(/* @vite-ignore */ engineUrl('common/paths.js'))])) as [EngineModule, PathsModule];
  const cacheDir = userCacheDir();
  try {
    // The engine runs on its own thread: training and indexing never hold up the window's process.
    service = await createThreadedEngineService({ cacheDir, dbPath: process.env.LOOKALIKE_DB || undefined, libraryRoot: process.env.LOOKALIKE_LIBRARY || undefined });
  } catch (error) {
    dialog.showErrorBox('Lookalike could not start', (error as Error).message);
    app.quit();
    return;
  }
  wireIpc(service, { cacheDir, isTrusted });
  Menu.setApplicationMenu(applicationMenu());
  window = createWindow();
});

// What the built page's <meta> tag says (src/shared/csp.ts), plus what a dev server needs and no framing.
const CSP = contentSecurityPolicy({
  images: [PHOTO_SCHEME + ':'],
  connect: devUrl ? ['ws:', 'http://localhost:*'] : [],
  inlineStyles: Boolean(devUrl),
  header: true,
});
