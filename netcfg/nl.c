/* nl: to be written */
