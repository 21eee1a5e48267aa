/**
 * Word lists of the rule-based caption complexity scorer, one per kind of concrete visual constraint
 * (GenView++'s LLM prompt: objects and their number or material, colour, texture, lighting, spatial
 * relations, actions, style). Lowercase; nouns in the singular (plurals are found by stripping -s/-es/-ies).
 */
export const VISUAL_WORD_KINDS = ['objects', 'counts', 'colors', 'textures', 'sizes', 'lighting', 'relations', 'actions', 'styles'] as const;
export type VisualWordKind = (typeof VISUAL_WORD_KINDS)[number];

const words = (text: string): string[] => text.trim().split(/\s+/);

/** Single words per kind; `actions` also takes any -ing word not in NOT_ACTIONS. */
export const VISUAL_WORDS: Record<VisualWordKind, readonly string[]> = {
  objects: words(`
    person man woman child kid boy girl baby people player rider
    dog cat horse bird cow sheep elephant bear zebra giraffe lion tiger monkey fish duck chicken rabbit fox wolf deer mouse
    car bus truck bicycle bike motorcycle train boat ship airplane plane
    chair table bed couch sofa bench desk lamp shelf cabinet
    tv television laptop computer keyboard phone screen clock vase bottle cup mug bowl plate fork knife spoon
    banana apple pizza cake sandwich donut burger bread
    umbrella bag backpack handbag suitcase hat cap shoe boot sneaker sandal shirt t-shirt tshirt dress coat jacket
    pullover sweater trousers pants jeans skirt scarf glove sock
    tree flower plant house building tower bridge street road mountain river lake beach sea ocean sky cloud sun moon
    field forest window door wall floor room kitchen garden fence sign ball kite toy teddy robot
    circle square triangle cross star diamond heart rectangle hexagon
  `),
  counts: words(`
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen twenty
    dozen several many few multiple couple single both group crowd herd flock pile stack row
  `),
  colors: words(`
    red green blue yellow orange purple violet pink brown black white grey gray cyan magenta teal turquoise beige navy
    maroon gold golden silver crimson scarlet indigo lavender olive khaki cream ivory colorful colourful multicolored
    multicoloured rainbow
  `),
  textures: words(`
    striped stripes stripy dotted spotted polka-dot checkered checked plaid tartan floral patterned furry fluffy hairy
    smooth rough shiny glossy matte metallic wooden wood metal glass plastic leather denim cotton wool woolen woollen
    knitted silk velvet stone marble brick ceramic paper cardboard concrete rusty wet muddy transparent sparkly fuzzy
    textured
  `),
  sizes: words('small large big tiny huge giant little tall short long wide narrow thin thick round rectangular oval curved pointed fat slim'),
  lighting: words('dark bright light pale dim sunny sunlit shadowy shadow shadows glowing lit neon foggy misty hazy snowy rainy vivid'),
  relations: words('above below under beneath underneath beside behind near between over on in inside atop across along around against among outside'),
  actions: words('jumps runs sits stands walks flies swims eats holds rides plays'),
  styles: words(`
    watercolor watercolour painting painted sketch sketched drawing drawn cartoon anime manga illustration illustrated
    photorealistic realistic hyperrealistic vintage retro minimalist minimal abstract impressionist impressionism cubist
    surreal surrealist baroque renaissance gothic pixelated sepia monochrome grayscale greyscale isometric cinematic 3d
    render rendered clipart doodle graffiti pastel charcoal pencil comic futuristic steampunk cyberpunk
  `),
};

/**
 * Phrases matched before single words, longest first, and removed once counted, so "black and white"
 * is one style (not two colours and a join) and "to the left of" one relation.
 */
export const VISUAL_PHRASES: Record<VisualWordKind, readonly string[]> = {
  objects: ['teddy bear', 'traffic light', 'fire hydrant', 'stop sign', 'ankle boot', 'cell phone'],
  counts: ['a group of', 'a couple of', 'a few', 'a dozen', 'a bunch of', 'a lot of', 'lots of', 'a row of', 'a stack of', 'a pile of'],
  colors: [],
  textures: ['polka dot', 'polka dots'],
  sizes: [],
  lighting: ['at night', 'at sunset', 'at sunrise', 'at dusk', 'at dawn', 'golden hour', 'in the dark'],
  relations: [
    'to the left of',
    'to the right of',
    'on the left of',
    'on the right of',
    'left of',
    'right of',
    'in front of',
    'on top of',
    'next to',
    'close to',
    'far from',
    'in the middle of',
    'in the center of',
    'in the centre of',
    'at the top of',
    'at the bottom of',
  ],
  actions: [],
  styles: ['in the style of', 'black and white', 'oil painting', 'digital art', 'pixel art', 'low poly', 'line art', '3d render', 'concept art', 'pencil drawing', 'charcoal drawing'],
};

/** Framing that names the medium, not the content ("a small photo of a ..."), dropped before counting. */
export const FRAMING = /\b(?:(?:a|an|the)\s+)?(?:(?:small|large|big|little|nice|good|cropped|close-up|closeup)\s+)?(?:photo|photograph|picture|image|pic|snapshot|shot)\s+of\b/g;

/** -ing words that are not actions. */
export const NOT_ACTIONS = new Set(
  words(`
    thing things something nothing anything everything building buildings clothing ceiling morning evening king ring rings
    wing wings string strings spring earring earrings wedding pudding stocking stockings painting paintings drawing
    drawings lighting during sibling railing awning frosting icing filling topping toppings setting ending ping
  `),
);

/** Words after "and"/"with" that open a new noun phrase (another object), rather than another adjective. */
export const PHRASE_OPENERS = new Set(words('a an the some another his her their its this that these those several many one two three four five six seven eight nine ten'));
