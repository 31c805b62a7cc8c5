// esbuild bundles the stylesheet main.ts imports; it has no value on the TypeScript side.
declare module '*.css';
