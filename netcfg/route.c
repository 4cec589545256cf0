/* route: to be written */
