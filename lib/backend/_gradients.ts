// tfjs-core's Node build leaves out the gradient registrations; the union
// package @tensorflow/tfjs registers them all into tfjs's global registry.
// Import it only for that side effect.
import "@tensorflow/tfjs";
