export { demo, type DemoOptions, type DemoDeps, type DemoProgress } from './demo.js';
