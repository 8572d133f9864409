// esbuild bundles the stylesheet main.ts imports into dist/webview.css.
declare module '*.css';
