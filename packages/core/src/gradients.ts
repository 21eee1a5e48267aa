// Side-effect module: registers every gradient tfjs-core defines, and the chained tensor methods
// (x.reshape(...)) that some of those gradients call; tfjs-core's Node entry registers neither.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
