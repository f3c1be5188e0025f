/**
 * The slice of Electron's API that src/main and src/preload use, typed by hand.
 *
 * Electron is an optional dependency: its binary cannot be downloaded everywhere (CI included), and
 * without the package there are no types either. This ambient module keeps `tsc` strict and identical
 * with or without electron installed. Keep it to what the shell calls; check against
 * https://www.electronjs.org/docs/latest/api when adding to it.
 */
declare module 'electron' {
  type Listener<A extends unknown[]> = (...args: A) => void;

  interface Event {
    preventDefault(): void;
  }

  interface WebFrameMain {
    url: string;
  }

  interface IpcMainInvokeEvent {
    sender: WebContents;
    senderFrame: WebFrameMain | null;
  }

  interface IpcRendererEvent {
    sender: unknown;
  }

  interface WebContents {
    id: number;
    send(channel: string, ...args: unknown[]): void;
    getURL(): string;
    isDestroyed(): boolean;
    openDevTools(options?: { mode: 'right' | 'bottom' | 'undocked' | 'detach' }): void;
    setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void;
    on(event: 'will-navigate' | 'will-redirect', listener: (event: Event, url: string) => void): this;
    on(event: 'will-attach-webview', listener: (event: Event) => void): this;
    on(event: 'render-process-gone', listener: (event: Event, details: { reason: string }) => void): this;
  }

  interface BrowserWindowConstructorOptions {
    width?: number;
    height?: number;
    minWidth?: number;
    minHeight?: number;
    show?: boolean;
    title?: string;
    backgroundColor?: string;
    autoHideMenuBar?: boolean;
    webPreferences?: {
      preload?: string;
      contextIsolation?: boolean;
      sandbox?: boolean;
      nodeIntegration?: boolean;
      nodeIntegrationInWorker?: boolean;
      webSecurity?: boolean;
      webviewTag?: boolean;
      spellcheck?: boolean;
    };
  }

  class BrowserWindow {
    constructor(options?: BrowserWindowConstructorOptions);
    static getAllWindows(): BrowserWindow[];
    static fromWebContents(contents: WebContents): BrowserWindow | null;
    webContents: WebContents;
    show(): void;
    focus(): void;
    restore(): void;
    isMinimized(): boolean;
    isDestroyed(): boolean;
    loadURL(url: string): Promise<void>;
    loadFile(path: string): Promise<void>;
    once(event: 'ready-to-show', listener: () => void): this;
    on(event: 'closed', listener: () => void): this;
  }

  interface App {
    isPackaged: boolean;
    name: string;
    whenReady(): Promise<void>;
    quit(): void;
    getVersion(): string;
    getPath(name: 'userData' | 'cache' | 'home' | 'temp'): string;
    requestSingleInstanceLock(): boolean;
    setAboutPanelOptions(options: { applicationName?: string; applicationVersion?: string; credits?: string }): void;
    on(event: 'window-all-closed' | 'activate' | 'second-instance', listener: () => void): this;
    on(event: 'before-quit' | 'will-quit', listener: (event: Event) => void): this;
    on(event: 'web-contents-created', listener: (event: Event, contents: WebContents) => void): this;
  }

  interface IpcMain {
    handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
    removeHandler(channel: string): void;
  }

  interface IpcRenderer {
    invoke(channel: string, ...args: unknown[]): Promise<unknown>;
    on(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): this;
    removeListener(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): this;
  }

  interface ContextBridge {
    exposeInMainWorld(apiKey: string, api: unknown): void;
  }

  interface OpenDialogOptions {
    title?: string;
    buttonLabel?: string;
    defaultPath?: string;
    properties?: Array<'openFile' | 'openDirectory' | 'multiSelections' | 'showHiddenFiles' | 'createDirectory'>;
    filters?: Array<{ name: string; extensions: string[] }>;
  }

  interface Dialog {
    showOpenDialog(window: BrowserWindow, options: OpenDialogOptions): Promise<{ canceled: boolean; filePaths: string[] }>;
    showOpenDialog(options: OpenDialogOptions): Promise<{ canceled: boolean; filePaths: string[] }>;
    showErrorBox(title: string, content: string): void;
  }

  interface CustomScheme {
    scheme: string;
    privileges?: { standard?: boolean; secure?: boolean; supportFetchAPI?: boolean; stream?: boolean; bypassCSP?: boolean; corsEnabled?: boolean };
  }

  interface Protocol {
    registerSchemesAsPrivileged(schemes: CustomScheme[]): void;
    handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void;
  }

  interface Net {
    fetch(input: string, init?: RequestInit & { bypassCustomProtocolHandlers?: boolean }): Promise<Response>;
  }

  interface Session {
    setPermissionRequestHandler(handler: ((contents: WebContents, permission: string, callback: (granted: boolean) => void) => void) | null): void;
    setPermissionCheckHandler(handler: ((contents: WebContents | null, permission: string) => boolean) | null): void;
    webRequest: {
      onHeadersReceived(
        listener: (
          details: { url: string; responseHeaders?: Record<string, string[]> },
          callback: (response: { responseHeaders?: Record<string, string[] | string> }) => void,
        ) => void,
      ): void;
    };
  }

  interface MenuItemConstructorOptions {
    label?: string;
    role?: string;
    type?: 'normal' | 'separator' | 'submenu' | 'checkbox' | 'radio';
    accelerator?: string;
    enabled?: boolean;
    click?: () => void;
    submenu?: MenuItemConstructorOptions[];
  }

  class Menu {
    static buildFromTemplate(template: MenuItemConstructorOptions[]): Menu;
    static setApplicationMenu(menu: Menu | null): void;
  }

  interface Shell {
    openExternal(url: string): Promise<void>;
    showItemInFolder(fullPath: string): void;
  }

  export const app: App;
  export const ipcMain: IpcMain;
  export const ipcRenderer: IpcRenderer;
  export const contextBridge: ContextBridge;
  export const dialog: Dialog;
  export const protocol: Protocol;
  export const net: Net;
  export const session: { defaultSession: Session };
  export const shell: Shell;
  export { BrowserWindow, Menu };
  export type { Event, IpcMainInvokeEvent, IpcRendererEvent, WebContents, MenuItemConstructorOptions, Listener };
}
