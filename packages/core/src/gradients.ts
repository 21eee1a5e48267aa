// Side-effect module: registers every gradient tfjs-core defines (see tf.ts for why it is separate).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
