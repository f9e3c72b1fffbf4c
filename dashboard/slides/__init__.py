"""Slides: the slide figure and its words, text measuring, the London inset, CCG names and their placement, the
vector map, Kaleido rendering, the export queue of the web workers and the PowerPoint file."""
